// The parts of autocannon's API the benchmarks use (the package ships no types).
declare module 'autocannon' {
  export interface Options {
    url: string;
    connections?: number;
    duration?: number;
    amount?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    idReplacement?: boolean;
    requests?: { method?: string; path?: string; body?: string; headers?: Record<string, string>; setupRequest?: (req: any, ctx: any) => any }[];
  }
  export interface Histogram { average: number; p50: number; p90: number; p99: number; max: number; mean: number }
  export interface Result { requests: Histogram & { total: number }; latency: Histogram; errors: number; timeouts: number; non2xx: number; '2xx': number; duration: number }
  export default function autocannon(opts: Options): Promise<Result>;
}
