// Validate an Actor's .actor/ files the way Apify does: actor.json, the dataset and output schemas with the
// published JSON schemas (@apify/json_schemas), the input schema with @apify/input_schema's own checks.
// Usage: node validate.cjs <actor-project-dir>. Prints one line per problem; exit 1 if there is any.
const fs = require('node:fs');
const path = require('node:path');
const Ajv2019 = require('ajv/dist/2019').default;
const schemas = require('@apify/json_schemas');
const { validateInputSchema } = require('@apify/input_schema');

const actorDir = path.join(process.argv[2] || '.', '.actor');
const problems = [];
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

function check(label, validator, data) {
    if (!validator(data)) {
        for (const error of validator.errors) problems.push(`${label}${error.instancePath || ''}: ${error.message}`);
    }
}

const actor = readJson(path.join(actorDir, 'actor.json'));
check('actor.json', schemas.getActorSchemaValidator(), actor);
if (actor.storages && typeof actor.storages.dataset === 'string') {
    check('dataset schema', schemas.getDatasetSchemaValidator(), readJson(path.join(actorDir, actor.storages.dataset)));
}
if (typeof actor.outputSchema === 'string') {
    check('output schema', schemas.getOutputSchemaValidator(), readJson(path.join(actorDir, actor.outputSchema)));
}
try {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    validateInputSchema(ajv, readJson(path.join(actorDir, actor.inputSchema || 'input_schema.json')));
} catch (error) {
    problems.push(`input schema: ${error.message}`);
}

for (const problem of problems) console.log(problem);
process.exit(problems.length ? 1 : 0);
