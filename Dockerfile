FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir .
USER nobody
CMD ["kassa", "web", "--host", "0.0.0.0", "--port", "8000"]
