# A stand-in for python:3.11-slim where no image registry is reachable: Debian's Python 3.11
# on the local Debian base. Same contract the service images rely on: `python3 -m venv`
# works and `python` runs Python 3.11.
ARG BASE_IMAGE=backbeat-local/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends python3 python3-venv python-is-python3 >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
# pip inside the image builds trusts what this machine trusts (the base copied its CA bundle).
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
