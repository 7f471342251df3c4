"""The kit every botmesh service is built from: settings, server bootstrap, interceptors,
database, Redis and the identity model. Domain code imports only the grpc-free modules
(settings, errors, ids, apikeys, principal)."""
