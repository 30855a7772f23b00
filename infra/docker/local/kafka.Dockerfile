# A stand-in for the official apache/kafka image where no image registry is reachable: the
# same Kafka release (the jars infra/kafka/kafka.sh resolves with Maven) on Debian's Java 17.
# Same contract docker-compose.yml and the tests use: every KAFKA_* variable becomes a broker
# setting (KAFKA_NODE_ID -> node.id), the log directory is formatted on first start, and
# /opt/kafka/bin/kafka-broker-api-versions.sh answers health checks. Runs as appuser.
ARG BASE_IMAGE=backbeat-local/debian:bookworm
FROM ${BASE_IMAGE}
# Java's packages register manual pages with update-alternatives: the folder must exist.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
    && useradd --system --uid 1000 --create-home appuser \
    && mkdir -p /var/lib/kafka/data /opt/kafka/config \
    && chown -R appuser /var/lib/kafka /opt/kafka/config
COPY libs /opt/kafka/libs
COPY kafka-entrypoint.sh kafka-broker-api-versions.sh /opt/kafka/bin/
COPY log4j2.properties /opt/kafka/config/log4j2.properties
ENV PATH=/opt/kafka/bin:$PATH
USER appuser
VOLUME /var/lib/kafka/data
EXPOSE 9092
ENTRYPOINT ["/opt/kafka/bin/kafka-entrypoint.sh"]
