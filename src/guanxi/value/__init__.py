"""The value engine in the database: scores every customer and keeps dated snapshots (M5–M7).

``services.score_all`` reads the purchase history with one aggregate query, fits the models of
``guanxi.analytics`` once, scores every customer, stores a snapshot per as-of date and copies the
latest values onto the customer. ``dask_engine`` does the same across a Dask cluster.
"""
