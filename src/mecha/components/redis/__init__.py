"""Redis support shared by Redis-backed components: a pipelined RESP client and Dapr's settings.

`client.RedisClient` runs commands, pipelines and Lua scripts over one self-healing connection;
`settings.connection_options` reads Dapr's Redis connection metadata. Needs `hiredis`
(`pip install 'mecha[redis]'`).
"""
