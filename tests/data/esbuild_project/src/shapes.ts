export type Shape =
  | { kind: "circle"; r: number }
  | { kind: "rect"; w: number; h: number };

export const greet = (name: string): string => `Hello, ${name}!`;

export function area(s: Shape): number {
  switch (s.kind) {
    case "circle":
      return Math.PI * s.r ** 2;
    case "rect":
      return s.w * s.h;
  }
}

export const unused = () => "tree-shaken away";
