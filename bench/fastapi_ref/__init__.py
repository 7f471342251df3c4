"""A FastAPI + uvicorn reference app that bench/getbot.py measures the mesh against."""
