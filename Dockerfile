# hub in a container: the single binary, built here from this checkout, in a small Debian image.
#
#   docker build -t hub .
#   docker run -d --name hub -p 6001:6001 -v hub-data:/data hub
#   docker logs hub            # the start lines, the dashboard's one-time setup link included
#   docker exec hub hub apps create "My app"
#   docker kill -s HUP hub     # certificates replaced on disk are read again
#
# The hub listens on every address of the container. Give it TLS (mount the files, set
# HUB_TLS_CERT and HUB_TLS_KEY) or put a proxy that terminates TLS in front of it and set
# HUB_TRUST_PROXY=true (README, "Deployment").

# -- build: scripts/build-binary.sh with the Python of this image (PyInstaller from PyPI) -----
FROM python:3.11-slim-bookworm AS build
# PyInstaller reads and writes the binaries with objdump and objcopy (binutils).
RUN apt-get update && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bash scripts/build-binary.sh

# -- run: the binary alone; it carries its own Python and every library ----------------------
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home hub \
    && install -d -o hub -g hub -m 700 /data
COPY --from=build /src/dist/hub /usr/local/bin/hub
USER hub
WORKDIR /data
ENV HUB_DB_PATH=/data/hub.db \
    HUB_HOST=0.0.0.0 \
    HUB_PORT=6001
VOLUME /data
EXPOSE 6001
# GET /up without curl in the image: bash's /dev/tcp, the status line read.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 CMD \
    ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HUB_PORT} && printf 'GET /up HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["hub"]
CMD ["serve"]
