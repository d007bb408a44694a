# CPU image. Build: docker build -t bodylens .   Run: docker run -p 5000:5000 bodylens
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    ANNY_CACHE_DIR=/opt/bodylens/anny-cache \
    BODYLENS_HOST=0.0.0.0 BODYLENS_PORT=5000

RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The CPU wheel index keeps torch at ~200 MB instead of pulling CUDA.
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install .
# Build the Anny cache (~1 GB, ~100 s) at image build time, not at first request.
RUN bodylens warmup

RUN useradd --system --uid 10001 bodylens && chown -R bodylens /opt/bodylens
USER bodylens
EXPOSE 5000
HEALTHCHECK CMD python -c "import urllib.request;urllib.request.urlopen('http://127.0.0.1:5000/healthz')"
CMD ["bodylens", "serve"]
