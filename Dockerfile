# Salesproc: one image for the web server (gunicorn sync workers), the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN pip install .

COPY . .

# Static files are collected at build time and served by WhiteNoise. collectstatic needs settings that
# load, so it runs with throwaway development values that never reach the running container.
RUN DEBUG=1 SECRET_KEY=collectstatic-only DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 salesproc && chown -R salesproc /app
USER salesproc

EXPOSE 8000
# Sync workers: Salesproc's views are synchronous (see docs/operations.md).
CMD ["gunicorn", "salesproc.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--worker-class", "sync", "--timeout", "60", "--access-logfile", "-"]
