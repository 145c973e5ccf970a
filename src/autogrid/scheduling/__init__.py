"""When and where bots step: leases (one holder per bot), beat's claims of due bots, the Celery
tasks that run steps and reconciliations, and the worker process that hosts them."""
