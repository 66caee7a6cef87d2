//! The runtime: the poll loop, the consumer and the commands that run a pipeline.
