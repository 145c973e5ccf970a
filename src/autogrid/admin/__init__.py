"""User administration for the admin role."""
