"""A classroom on JupyterHub for the course (``python3 course.py classroom``): see run.py and README."""
