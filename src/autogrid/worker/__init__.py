"""Background work: the Celery application, the task base, the single-instance beat scheduler.

Import ``autogrid.worker.celery_app`` only where a process-wide app is wanted (the ``celery -A``
entry point): building it reads the settings. Everything else takes settings explicitly.
"""
