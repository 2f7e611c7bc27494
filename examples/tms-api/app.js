'use strict';
// tms-api: the example app airgapkit carries into an air-gapped network.
//
// Settings come from the environment (see .env.example):
//   PORT      port to listen on (default 8080)
//   APP_ENV   name of the environment (dev, test, pre-prod, prod); shown by /health
//   GREETING  a free-text value shown by /health, so a deployment can prove which env file it got
//   DB_HOST, DB_USER, DB_PASSWORD   read but never shown
const express = require('express');
const pkg = require('./package.json');

const app = express();
const port = Number.parseInt(process.env.PORT ?? '8080', 10);

app.disable('x-powered-by');

app.get('/health', (req, res) => {
  res.json({
    status: 'ok',
    app: pkg.name,
    version: pkg.version,
    environment: process.env.APP_ENV ?? null,
    greeting: process.env.GREETING ?? null,
    database: process.env.DB_HOST ? 'configured' : 'not configured',
  });
});

app.get('/', (req, res) => {
  res.json({ app: pkg.name, version: pkg.version, endpoints: ['/health'] });
});

const server = app.listen(port, () => {
  console.log(`${pkg.name} ${pkg.version} listening on port ${port}`);
});

function shutdown(signal) {
  console.log(`${signal} received, closing`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 5000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
