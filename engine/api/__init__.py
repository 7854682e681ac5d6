"""AUTOMATIC1111's HTTP API (`/sdapi/v1/...`) over our queue, runner and history.

A thin adapter: HTTP bodies (A1111's field names and defaults, schemas.py) become
GenerationRequests (mapping.py), which go into a job queue through a JobPort
(port.py), the same queue the window or the CLI's `serve` runs; the images come
back from the history as PNGs carrying our A1111 chunk.

    jobs = LocalJobs(history_dir)          # or the window's queue and runner: QueuePort
    server = ApiServer(create_app(jobs.port, ApiSettings()), host, port)
    server.start()                         # uvicorn on a thread of its own
"""
