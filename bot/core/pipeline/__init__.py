"""The answer pipeline: the stages that turn a question into ranked verbatim quotes or a refusal."""
