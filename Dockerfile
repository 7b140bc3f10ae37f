# glassbox: a small, static, non-root image.
#   docker build -t glassbox .
#   docker run -p 8080:8080 -v glassbox-data:/data glassbox
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go throughout (SQLite through modernc.org/sqlite), so the binary is static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/glassbox ./cmd/glassbox \
 && mkdir -p /out/data

FROM scratch
COPY --from=build /out/glassbox /glassbox
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
EXPOSE 8080
VOLUME /data
ENTRYPOINT ["/glassbox"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--data-dir", "/data"]
