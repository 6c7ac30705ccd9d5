"""Serving layer: model replicas outside the API process (Ray Serve), over the same task
functions. Imported only when ``TYMPAN_RAY_ADDRESS`` is set; nothing else imports it."""
