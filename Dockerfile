# The image for the worker, the scheduler and Flower (see docker-compose.yml and
# docs/delivery.md, "Operating with docker compose"): the package and Flower, run as nobody.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY campaign ./campaign
COPY workers ./workers
RUN pip install --no-cache-dir . "flower>=2,<3"
# Compose mounts the working copies of config/ and templates/ over these (read-only); the
# copies make the image usable on its own.
COPY config ./config
COPY templates ./templates
# Where the outbox and Flower's database live: a new named volume takes over the folder's owner,
# so nobody can write there.
RUN mkdir -p /app/outbox /var/lib/flower \
    && chown nobody:nogroup /app/outbox /var/lib/flower
USER nobody
