# creditplatform web / worker image. Production settings come from the environment.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --create-home --uid 10001 app
COPY pyproject.toml README.md ./
COPY creditplatform ./creditplatform
COPY accounts ./accounts
COPY ledger ./ledger
COPY fraud ./fraud
COPY compliance ./compliance
COPY templates ./templates
COPY manage.py ./
RUN pip install . && mkdir -p /app/var && chown -R app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "creditplatform.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
