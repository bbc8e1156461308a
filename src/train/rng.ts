/** The seeded generator lives in util/ (recipes use it for splits too); re-exported here for the trainer. */
export { Rng } from "../util/rng.js";
