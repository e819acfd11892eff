// Writes docs/events/<type>.json from the event catalog (src/delivery/eventTypes.ts).
// `npm run docs:events`; test/delivery/event.catalog.test.ts fails when they differ.
import { mkdirSync, writeFileSync } from 'node:fs';
import { EVENT_TYPES, eventSchema } from '../src/delivery/eventTypes.ts';

const dir = new URL('../docs/events/', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const e of EVENT_TYPES) writeFileSync(new URL(`${e.type}.json`, dir), `${JSON.stringify(eventSchema(e), null, 2)}\n`);
console.log(`wrote ${EVENT_TYPES.length} schemas to docs/events/`);
