// Every host port the e2e tier publishes besides the example's own (example/.env), in one place.
// test/unit/test-ports.test.ts checks them: no two alike, none equal to the example's, and none in
// Linux's ephemeral range (32768-60999 by default), where an outgoing connection of the moment can
// hold the port and docker-proxy then fails with 'address already in use'.

/** The copy of the suite that runs part of the tier beside the rest (test/e2e-tier.mts). */
export const BESIDE_PORTS = { postgres: 25433, redis: 26380, api: 28001, flower: 25556 }

/** 07-config's copy of the example, and the port its override file adds for the api. */
export const CONFIG_COPY_PORTS = { postgres: 24432, redis: 24379, api: 24800, flower: 24555, overrideApi: 24801 }

/** Servers outside every project: 05-plan's Redis, 10-safety's PostgreSQL. */
export const FOREIGN_PORTS = { redis: 23379, postgres: 23432 }

/** All of them, named for messages. */
export const TEST_PORTS: Record<string, number> = Object.fromEntries(
  Object.entries({ beside: BESIDE_PORTS, 'config copy': CONFIG_COPY_PORTS, foreign: FOREIGN_PORTS }).flatMap(([group, ports]) =>
    Object.entries(ports).map(([name, port]) => [`${group} ${name}`, port]),
  ),
)
