# dagship as a GitHub Action: the dagship binary, git, and dbt-core with ONE dbt adapter in a venv, on Debian
# bookworm. Built with BuildKit (`docker buildx build`, or DOCKER_BUILDKIT=1), which builds only the stages used.
#
#   docker build --build-arg DBT_ADAPTER=dbt-snowflake --build-arg DBT_ADAPTER_VERSION=1.11.0 .
#       the binary compiled from source in a builder stage (minutes)
#   docker build --build-arg DAGSHIP_BINARY=prebuilt --build-arg DBT_ADAPTER=dbt-duckdb ... .
#       the binary copied from dist/linux-<arch>/dagship in the build context, as the release workflow does
#
# BASE_IMAGE and RUST_IMAGE are build arguments so that a release pins them by digest and a machine without a
# registry passes local images (scripts/container-test.sh builds one with debootstrap). The registry's CA bundle,
# when pip needs one, is a BuildKit secret (`--secret id=pip_cert,src=FILE`): used by the install step, never
# stored in a layer.
ARG BASE_IMAGE=debian:bookworm-slim
ARG RUST_IMAGE=rust:1.94-slim-bookworm
ARG DAGSHIP_BINARY=source

FROM ${RUST_IMAGE} AS source
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked \
    && strip target/release/dagship \
    && mkdir /out && cp target/release/dagship /out/dagship

FROM scratch AS prebuilt
# Set by BuildKit for each platform of a multi-arch build (amd64, arm64).
ARG TARGETARCH
COPY dist/linux-${TARGETARCH}/dagship /out/dagship

# hadolint ignore=DL3006
FROM ${DAGSHIP_BINARY} AS binary

# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
ARG DBT_CORE_VERSION=1.11.16
ARG DBT_ADAPTER=dbt-bigquery
ARG DBT_ADAPTER_VERSION=1.11.3
ARG UV_VERSION=0.13.9

# git for change detection; python3-venv for dbt and for the DAG check's Airflow venv (dags_check.requirements);
# ca-certificates for GCS, S3, GitHub and the package registry over TLS. Debian's security updates replace exact
# package versions within a release, so the release (bookworm) is the pin here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

# dbt-core, the adapter and uv (which installs dags_check.requirements at run time) in one venv; only `dbt` and
# `uv` are put on PATH, so `python3` stays the system Python and never pretends to have Airflow.
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
    && python3 -m venv /opt/dagship \
    && /opt/dagship/bin/pip install --no-cache-dir --disable-pip-version-check \
        "dbt-core==${DBT_CORE_VERSION}" "${DBT_ADAPTER}==${DBT_ADAPTER_VERSION}" "uv==${UV_VERSION}" \
    && ln -s /opt/dagship/bin/dbt /opt/dagship/bin/uv /usr/local/bin/ \
    && dbt --version

COPY --from=binary /out/dagship /usr/local/bin/dagship

# GitHub runs a Docker action as root (its documented contract) with the checkout mounted at /github/workspace,
# owned by the runner's user: git refuses such a folder ("dubious ownership") unless it is a safe directory.
# Only that path is trusted, not every folder.
RUN git config --system --add safe.directory /github/workspace \
    && dagship --version

ENV DO_NOT_TRACK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSHIP_DBT_ADAPTER=${DBT_ADAPTER}

ENTRYPOINT ["dagship", "ci"]
