import * as z from 'zod';
import { PLATFORMS } from '../lock/platform.js';
import { configSchema } from './schema.js';


type JsonObject = { [key: string]: unknown };

/**
 * The config's JSON Schema (draft 2020-12), generated from the zod schema the tool itself
 * validates with, so the two cannot disagree on a key. What zod cannot express (exactly one of
 * host.image and host.platforms; the platform names) is added here, as validate-config checks it.
 */
export function configJsonSchema(): JsonObject {
  const schema = z.toJSONSchema(configSchema, { target: 'draft-2020-12', io: 'input' }) as JsonObject;
  const properties = schema.properties as { host: JsonObject & { properties: { platforms: JsonObject } } };
  const host = properties.host;
  host.oneOf = [{ required: ['image'] }, { required: ['platforms'] }];
  host.properties.platforms.propertyNames = { enum: PLATFORMS };
  host.properties.platforms.minProperties = 1;
  return {
    $schema: schema.$schema,
    title: 'plugin-builder config (builder.config.json)',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
