// Rows of the Helm variants table for the per-component scheduling, image and pull-secret values.
import type { Variant } from './helm.js';

/** Variants for the values of issue 15 item 2 (scheduling, digests, pull secrets). */
export const VARIANTS_PART2: readonly Variant[] = [];
