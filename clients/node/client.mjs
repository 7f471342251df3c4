// A botmesh client in Node.js: gRPC through Envoy, from the same protos/ every client uses.
//
//   import { connect } from './client.mjs';
//   const mesh = connect({ address: 'localhost:8080', apiKey: process.env.BOTMESH_API_KEY });
//   const { bots } = await mesh.marketplace.ListBots({ page_size: 5 });
//   for await (const item of mesh.marketData.StreamPrices({ market: 'BTC-USDT' })) { ... }
//
// The rules it keeps:
// - The protos are loaded at run time from protos/ (and protos/third_party for google.api and
//   google.rpc), so this client cannot drift from the contract; nothing is generated or copied.
// - Field names are the proto's own (snake_case), int64 values are strings, enums are names:
//   the same JSON shapes the REST API sends.
// - Credentials travel as the Python clients send them: the API key in `x-api-key`, the
//   acting principal (marketplace keys) in `x-principal-id`, and an `idempotency-key` on writes
//   when the caller gives one. The key is never printed: `redact()` shows its id only.
// - Errors are the canonical gRPC status; `errorInfo(err)` decodes the google.rpc.ErrorInfo
//   (reason, metadata) every botmesh error carries in `grpc-status-details-bin`.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The repository's protos/, the one source of truth. */
export const PROTOS = path.resolve(HERE, '..', '..', 'protos');
const INCLUDE_DIRS = [PROTOS, path.join(PROTOS, 'third_party')];

/** The public services, by the name this client gives them. */
export const SERVICES = {
  marketplace: ['botmesh/credential/v1/marketplace_service.proto', 'botmesh.credential.v1.MarketplaceService'],
  credentials: ['botmesh/credential/v1/credential_service.proto', 'botmesh.credential.v1.CredentialService'],
  subscriptions: ['botmesh/credential/v1/subscription_service.proto', 'botmesh.credential.v1.SubscriptionService'],
  trading: ['botmesh/trading/v1/trading_service.proto', 'botmesh.trading.v1.TradingService'],
  marketData: ['botmesh/trading/v1/market_data_service.proto', 'botmesh.trading.v1.MarketDataService'],
  analysis: ['botmesh/analysis/v1/analysis_service.proto', 'botmesh.analysis.v1.AnalysisService'],
};

const LOADER_OPTIONS = {
  includeDirs: INCLUDE_DIRS,
  keepCase: true, // field names as in the protos and in REST's JSON
  longs: String, // int64 as strings, as REST sends them
  enums: String, // enum values by name
  defaults: true,
  oneofs: true, // a oneof's set member is named in a virtual field (e.g. item: 'ticker')
};

let packageCache = null;

function loadPackage() {
  if (!packageCache) {
    const files = Object.values(SERVICES).map(([file]) => file);
    packageCache = grpc.loadPackageDefinition(protoLoader.loadSync(files, LOADER_OPTIONS));
  }
  return packageCache;
}

function lookup(root, dotted) {
  return dotted.split('.').reduce((node, part) => node[part], root);
}

/** Shows an API key as its id only (`bm_<key_id>_…`): the secret never reaches a log. */
export function redact(apiKey) {
  if (!apiKey) return '(none)';
  const match = /^(bm_[^_]+)_/.exec(apiKey);
  return match ? `${match[1]}_…` : '…';
}

/** The metadata of a call: the API key, the acting principal, an idempotency key. */
export function callMetadata({ apiKey, principal, idempotencyKey } = {}) {
  const metadata = new grpc.Metadata();
  if (apiKey) metadata.set('x-api-key', apiKey);
  if (principal) metadata.set('x-principal-id', principal);
  if (idempotencyKey) metadata.set('idempotency-key', idempotencyKey);
  return metadata;
}

function unaryMethod(client, name, defaults) {
  return (request, options = {}) =>
    new Promise((resolve, reject) => {
      const metadata = callMetadata({ ...defaults, ...options });
      const deadline = new Date(Date.now() + (options.timeoutMs ?? defaults.timeoutMs));
      client[name](request, metadata, { deadline }, (err, response) =>
        err ? reject(err) : resolve(response),
      );
    });
}

function streamMethod(client, name, defaults) {
  // A server stream is an async iterable of messages; `.cancel()` ends it.
  return (request, options = {}) => client[name](request, callMetadata({ ...defaults, ...options }));
}

/**
 * Connects to botmesh's gRPC port (Envoy's, the same port as REST) and returns one object per
 * public service, whose methods take a request object and return a promise (unary) or an
 * async-iterable stream (server streaming). `apiKey` and `principal` are sent on every call
 * unless a call's options override them (pass `{ apiKey: '' }` to call without a key).
 */
export function connect({ address = 'localhost:8080', apiKey = '', principal = '', timeoutMs = 10_000, credentials } = {}) {
  const root = loadPackage();
  const channelCredentials = credentials ?? grpc.credentials.createInsecure();
  const defaults = { apiKey, principal, timeoutMs };
  const clients = [];
  const mesh = {};
  for (const [alias, [, serviceName]] of Object.entries(SERVICES)) {
    const Service = lookup(root, serviceName);
    const client = new Service(address, channelCredentials);
    clients.push(client);
    const methods = {};
    for (const [name, method] of Object.entries(Service.service)) {
      methods[name] = method.responseStream
        ? streamMethod(client, name, defaults)
        : unaryMethod(client, name, defaults);
    }
    mesh[alias] = methods;
  }
  mesh.close = () => clients.forEach((client) => client.close());
  return mesh;
}

let statusTypes = null;

function loadStatusTypes() {
  if (!statusTypes) {
    const root = new protobuf.Root();
    // google.rpc comes from protos/third_party; google.protobuf is bundled with protobufjs.
    root.resolvePath = (_origin, target) =>
      target.startsWith('google/rpc/') ? path.join(PROTOS, 'third_party', target) : target;
    root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
    statusTypes = { Status: root.lookupType('google.rpc.Status'), root };
  }
  return statusTypes;
}

/**
 * The google.rpc.ErrorInfo of a failed call ({ reason, domain, metadata }), decoded from the
 * `grpc-status-details-bin` trailer, or null when the error carries none.
 */
export function errorInfo(err) {
  const raw = err?.metadata?.get('grpc-status-details-bin')?.[0];
  if (!raw) return null;
  const { Status, root } = loadStatusTypes();
  const status = Status.decode(raw);
  for (const detail of status.details) {
    if (detail.type_url.endsWith('/google.rpc.ErrorInfo')) {
      const info = root.lookupType('google.rpc.ErrorInfo').decode(detail.value);
      return { reason: info.reason, domain: info.domain, metadata: { ...info.metadata } };
    }
  }
  return null;
}

/** The canonical gRPC code's name of a failed call, e.g. 'UNAUTHENTICATED'. */
export function codeName(err) {
  return Object.keys(grpc.status).find((name) => grpc.status[name] === err?.code) ?? 'UNKNOWN';
}
