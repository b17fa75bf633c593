// A small TypeScript project for esbuild to bundle and minify: modules,
// types, an enum, a class, async code, JSON and a CSS-free dependency graph.
import { greet, Shape, area } from "./shapes";
import settings from "./settings.json";
import { memo } from "./util.js";

enum Level { Low = 1, Mid, High }

interface Report { title: string; total: number; level: Level }

export class Inventory<T extends { weight: number }> {
  private items: T[] = [];
  add(item: T): this { this.items.push(item); return this; }
  get weight(): number { return this.items.reduce((sum, i) => sum + i.weight, 0); }
}

const slowSquare = memo((n: number) => n * n);

export async function report(shapes: Shape[]): Promise<Report> {
  const total = shapes.map(area).reduce((a, b) => a + b, 0) + slowSquare(settings.offset);
  await Promise.resolve();
  return { title: greet(settings.name), total, level: total > 100 ? Level.High : Level.Low };
}

report([{ kind: "circle", r: 2 }, { kind: "rect", w: 3, h: 4 }]).then((r) =>
  console.log(`${r.title}: ${r.total.toFixed(2)} (${Level[r.level]})`),
);
console.log(new Inventory<{ weight: number }>().add({ weight: 2 }).add({ weight: 5 }).weight);
