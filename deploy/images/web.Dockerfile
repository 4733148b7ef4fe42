# syntax=docker/dockerfile:1
# The web app (web/, npm + Vite): the static build served by nginx-unprivileged (port 8080, non-root).
# Build from the repository root:
#   docker build -f deploy/images/web.Dockerfile -t registry.example.vn/sachso/sachso-web:0.1.0 .
# Pin both bases by digest in production (--build-arg NODE_IMAGE=...@sha256:..., NGINX_IMAGE=...@sha256:...).
# `make images` builds it with podman on a local Debian base with Node.js and nginx (deploy/local/images.py).
ARG NODE_IMAGE=node:22-bookworm-slim
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27-alpine

FROM ${NODE_IMAGE} AS build
WORKDIR /web
# Dependencies exactly as package-lock.json pins them, then the production build into dist/.
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM ${NGINX_IMAGE}
COPY deploy/images/web-nginx-main.conf /etc/nginx/nginx.conf
COPY deploy/images/web-nginx.conf /etc/nginx/conf.d/default.conf
COPY --from=build /web/dist /usr/share/nginx/html
# The image's unprivileged nginx user (the chart may run it under another non-root UID).
USER 101
EXPOSE 8080
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
HEALTHCHECK --interval=30s --timeout=3s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
