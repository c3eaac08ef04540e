# A small image of the regtidy CLI: a static binary, CA certificates, nothing else.
#   docker build --build-arg VERSION=v1.2.0 -t regtidy .
#   docker run --rm -e GITHUB_TOKEN regtidy report OWNER/IMAGE ...
FROM golang:1.26 AS build
ARG VERSION=(devel)
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/regtidy ./cmd/regtidy

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/regtidy /regtidy
USER 65532:65532
ENTRYPOINT ["/regtidy"]
