# A stand-in for the official postgres:15 image where no image registry is reachable:
# Debian's PostgreSQL 15 with the same contract docker-compose.yml and the tests use:
# POSTGRES_PASSWORD (and POSTGRES_USER, POSTGRES_DB), the scripts of
# /docker-entrypoint-initdb.d run once on an empty data directory, data in
# /var/lib/postgresql/data (PGDATA), `pg_isready` on the PATH. Runs as the postgres user.
ARG BASE_IMAGE=backbeat-local/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
    && mkdir -p /docker-entrypoint-initdb.d /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
