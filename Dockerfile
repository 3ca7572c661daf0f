# dagship as a GitHub Action: the Rust binary built in a builder stage, run in a slim Python image that holds git,
# dbt-core and one dbt adapter. Build another adapter with:
#   docker build --build-arg DBT_ADAPTER=dbt-snowflake --build-arg DBT_ADAPTER_VERSION=1.11.0 .
# Base images are pinned by tag; re-pin them by digest (image@sha256:...) when you publish your own image.

FROM rust:1.94-slim-bookworm AS builder
WORKDIR /build
# Dependencies first, so a source change does not rebuild them (the dummy main is replaced right after).
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && strip target/release/dagship

FROM python:3.12-slim-bookworm
ARG DBT_CORE_VERSION=1.11.16
ARG DBT_ADAPTER=dbt-bigquery
ARG DBT_ADAPTER_VERSION=1.11.3

# git for change detection; ca-certificates for GCS, S3 and GitHub over TLS. Debian's security updates replace
# exact package versions within a release, so the release (bookworm) is the pin here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --no-cache-dir "dbt-core==${DBT_CORE_VERSION}" "${DBT_ADAPTER}==${DBT_ADAPTER_VERSION}"

COPY --from=builder /build/target/release/dagship /usr/local/bin/dagship

# GitHub mounts the checkout at /github/workspace, owned by the runner's user: without safe.directory, git
# refuses to work in it ("dubious ownership"); only that path is trusted, not every folder. The user has the uid
# of the `runner` user of GitHub-hosted runners, so dbt's target folder and the step's output files written here
# stay writable by the later steps of the job.
RUN git config --system --add safe.directory /github/workspace \
    && useradd --create-home --uid 1001 --user-group --shell /usr/sbin/nologin dagship
USER 1001:1001

ENV DO_NOT_TRACK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

ENTRYPOINT ["dagship", "ci"]
