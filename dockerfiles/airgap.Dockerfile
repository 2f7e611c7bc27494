# The app image from the .tgz extracted on the HOST (`tar -xzf <module>.tgz`): the build context is the
# extracted package/ folder, its bundled node_modules already inside, so the image needs no npm at all.
#
#   tar -xzf tms-api-1.0.0.tgz && cd package
#   docker build . -t tms-api:1.0.0 -f airgap.Dockerfile --build-arg APP_MAIN=app.js
#
# Its ignore file is airgap.Dockerfile.dockerignore (BuildKit reads it beside this file; airgapkit's
# `build --variant host` copies it into the context as .dockerignore for the classic builder). Unlike the
# other variant's, it keeps node_modules: here they are the app's dependencies.

# select base node image (load it first with `docker load`; the build never pulls)
ARG BASE_IMAGE=node:20-alpine
FROM ${BASE_IMAGE} AS context
# marks this stage's image, kept untagged as the build cache (see Dockerfile)
LABEL org.airgapkit.stage="context"

# the extracted package, minus what the ignore file keeps out (env files, build files)
COPY . /app
# the build files in case the client sent them (the Docker SDK does not send .dockerignore)
RUN rm -f /app/airgap.Dockerfile /app/Dockerfile /app/.dockerignore /app/airgap.Dockerfile.dockerignore

FROM ${BASE_IMAGE}

# entry file of the app, relative to /app ("." lets node pick package.json's "main", or index.js)
ARG APP_MAIN=.
# port the app listens on (its PORT variable; an env file given to `docker run` may change it)
ARG APP_PORT=8080

# set working directory
WORKDIR /app

# copy the app with its bundled node_modules, owned by root: the app's user can read it, not change it
COPY --from=context /app /app

# create non-root user
RUN adduser -u 1001 -D defaultuser

# switch to non-root user, by number (see Dockerfile)
USER 1001

ENV NODE_ENV=production \
    PORT=${APP_PORT} \
    APP_MAIN=${APP_MAIN}
EXPOSE ${APP_PORT}

# to execute after container runs (see Dockerfile: sh expands APP_MAIN, then node replaces it as PID 1)
CMD ["sh", "-c", "exec node \"$APP_MAIN\""]
