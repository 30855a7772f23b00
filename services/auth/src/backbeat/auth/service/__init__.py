"""What auth does, step by step: each use case combines the pure decisions of ``domain`` with
the queries of ``store`` inside transactions. Routes in ``api`` only translate HTTP."""
