/** Where the config's JSON Schema lies in the package (made by `npm run build`; `"$schema"` in a config may point here). */
export const JSON_SCHEMA_FILE = 'dist/builder.config.schema.json';
