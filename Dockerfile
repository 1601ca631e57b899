# The image for the worker, the scheduler and Flower (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY campaign ./campaign
COPY workers ./workers
RUN pip install --no-cache-dir . flower
COPY config ./config
COPY templates ./templates
USER nobody
