"""`sorakit serve`: an HTTP API over a job store, with a worker process that generates."""
