# The operator image: report writer and CLI (no model runtime, no broker SDK).
FROM python:3.11-slim
WORKDIR /app
COPY shared/ /app/shared/
COPY ridgeline/ /app/ridgeline/
COPY pyproject.toml README.md /app/
RUN pip install --no-cache-dir /app/shared \
 && pip install --no-cache-dir --no-deps /app \
 && pip install --no-cache-dir "httpx>=0.27" "plotly>=5.20"
ENTRYPOINT []
CMD ["ridgeline", "--help"]
