// The synthetic world's vocabulary: shapes, named colours, sizes and backgrounds. Everything
// the captioners write and the detector and mini-GenEval read comes from these lists.

export const SHAPES = ['circle', 'square', 'triangle'] as const;
export type Shape = (typeof SHAPES)[number];

export const COLOURS = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [40, 80, 220],
  yellow: [235, 210, 40],
  purple: [140, 60, 180],
  orange: [240, 130, 30],
} as const satisfies Record<string, readonly [number, number, number]>;
export type Colour = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as Colour[];

export const BACKGROUNDS = {
  white: [240, 240, 240],
  gray: [150, 150, 150],
  dark: [55, 55, 60],
  black: [12, 12, 12],
  beige: [225, 212, 185],
} as const satisfies Record<string, readonly [number, number, number]>;
export type Background = keyof typeof BACKGROUNDS;
export const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as Background[];

/** Object radius as a fraction of the image side. */
export const SIZES = { small: 0.11, medium: 0.15, large: 0.2 } as const;
export type Size = keyof typeof SIZES;
export const SIZE_NAMES = Object.keys(SIZES) as Size[];

export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four'] as const;

export const RELATIONS = ['left of', 'right of', 'above', 'below'] as const;
export type Relation = (typeof RELATIONS)[number];

export const plural = (shape: Shape, n: number) => (n === 1 ? shape : `${shape}s`);
