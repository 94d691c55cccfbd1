#!/usr/bin/env node
import { main } from '../dist/base-command.js';

await main(new URL('../', import.meta.url));
