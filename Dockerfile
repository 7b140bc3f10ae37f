# glassbox: a small, static, non-root image.
#   docker build -t glassbox .
#   docker run -p 8080:8080 -v glassbox-data:/data glassbox
# Further targets for the production topology of deploy/compose.yaml:
#   docker build --target trillian -t glassbox-trillian .   # Trillian's log server, signer, createtree
#   docker build --target mariadb -t glassbox-mariadb .     # MariaDB that loads Trillian's schema on first start
# Trillian is built from tools/go.mod, which pins the version go.mod links
# against, so the servers, their MySQL schema and glassbox's client match.
#
# Base images are to be pinned by digest, so that a rebuild gets the same bytes.
# TODO(digest): no container registry was reachable where this file was
# written, so the digests are not filled in. Append to each tag below the
# index digest that `docker buildx imagetools inspect IMAGE:TAG` prints, as
# golang:1.26@sha256:<64 hex digits> (or pass --build-arg GOLANG_IMAGE=... and
# MARIADB_IMAGE=...). TestDockerfile (deploy/) lists the images still unpinned.
ARG GOLANG_IMAGE=golang:1.26
ARG MARIADB_IMAGE=mariadb:11.4

FROM ${GOLANG_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go throughout (SQLite through modernc.org/sqlite), so the binary is static.
# /data/ledger exists, owned by the service user, so that files mounted into it
# (the shared checkpoint key of deploy/compose.yaml) leave it writable.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/glassbox ./cmd/glassbox \
 && mkdir -p /out/data/ledger

FROM ${GOLANG_IMAGE} AS trillian-build
WORKDIR /src/tools
COPY tools/go.mod tools/go.sum ./
RUN go mod download
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ \
      github.com/google/trillian/cmd/trillian_log_server \
      github.com/google/trillian/cmd/trillian_log_signer \
      github.com/google/trillian/cmd/createtree \
 && cp "$(go list -m -f '{{.Dir}}' github.com/google/trillian)/storage/mysql/schema/storage.sql" /out/

FROM scratch AS trillian
COPY --from=trillian-build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=trillian-build /out/trillian_log_server /out/trillian_log_signer /out/createtree /
USER 65532:65532

FROM ${MARIADB_IMAGE} AS mariadb
# The official image runs these once, into $MARIADB_DATABASE, on an empty volume.
COPY --from=trillian-build /out/storage.sql /docker-entrypoint-initdb.d/10-trillian-storage.sql

FROM scratch
# CA certificates, for TLS to Trillian, witnesses and monitors; Go reads this file.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/glassbox /glassbox
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
EXPOSE 8080
VOLUME /data
ENTRYPOINT ["/glassbox"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--data-dir", "/data"]
