# One multi-stage build for the three services; pick one with --target.
# ingest-svc and status-svc are static, pure-Go binaries on distroless;
# analysis-svc links GDAL (cgo), so it runs on Debian with libgdal.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libgdal-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/ ./ingest-svc/cmd/ingest-svc ./status-svc/cmd/status-svc ./cli/cmd/canopy \
 && go build -trimpath -o /out/ ./analysis-svc/cmd/analysis-svc

FROM gcr.io/distroless/static-debian12:nonroot AS ingest-svc
COPY --from=build /out/ingest-svc /ingest-svc
ENTRYPOINT ["/ingest-svc"]

FROM gcr.io/distroless/static-debian12:nonroot AS status-svc
COPY --from=build /out/status-svc /status-svc
ENTRYPOINT ["/status-svc"]

FROM debian:bookworm-slim AS analysis-svc
RUN apt-get update && apt-get install -y --no-install-recommends libgdal32 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 canopy
COPY --from=build /out/analysis-svc /usr/local/bin/analysis-svc
USER canopy
ENTRYPOINT ["analysis-svc"]
