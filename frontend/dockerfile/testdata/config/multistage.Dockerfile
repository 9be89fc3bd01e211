ARG GO=1.20
# builder compiles
FROM golang:${GO} AS builder
ARG SECRET_ARG=s
ENV CGO_ENABLED=0
WORKDIR src
RUN go build -o /out/app .

FROM builder AS tester
RUN go test ./...

FROM busybox AS unused
RUN false

FROM scratch
COPY --from=builder /out/app /app
COPY --from=0 /go /go
ENTRYPOINT ["/app"]
