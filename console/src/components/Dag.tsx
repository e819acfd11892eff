import dagre from '@dagrejs/dagre';
import { Background, Controls, Position, ReactFlow, type Edge, type Node } from '@xyflow/react';
import { useMemo } from 'react';

export interface DagNode {
  id: string;
  title: string;
  kind: string;
  status: string;
  dependsOn: string[];
}

const W = 190;
const H = 54;

/** Left-to-right layout by dagre; positions depend only on the graph, so polling does not move nodes. */
function layout(nodes: DagNode[]): Map<string, { x: number; y: number }> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 24, ranksep: 56 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: W, height: H });
  for (const n of nodes) for (const d of n.dependsOn) if (nodes.some((m) => m.id === d)) g.setEdge(d, n.id);
  dagre.layout(g);
  return new Map(nodes.map((n) => {
    const p = g.node(n.id);
    return [n.id, { x: p.x - W / 2, y: p.y - H / 2 }];
  }));
}

/** The run's DAG, each node coloured by status; clicking (or Enter on) a node selects it. */
export function Dag({ nodes, selected, onSelect }: { nodes: DagNode[]; selected?: string; onSelect: (id: string) => void }) {
  const shape = nodes.map((n) => `${n.id}<${n.dependsOn.join(',')}`).join(';');
  const positions = useMemo(() => layout(nodes), [shape]);
  const flowNodes: Node[] = nodes.map((n) => ({
    id: n.id,
    position: positions.get(n.id) ?? { x: 0, y: 0 },
    data: { label: <NodeLabel n={n} /> },
    className: `dag-node st-${n.status}${selected === n.id ? ' selected-node' : ''}`,
    draggable: false,
    connectable: false,
    ariaLabel: `${n.title}: ${n.status}`,
    width: W,
    height: H,
    sourcePosition: Position.Right,
    targetPosition: Position.Left,
  }));
  const edges: Edge[] = nodes.flatMap((n) =>
    n.dependsOn.map((d) => ({ id: `${d}->${n.id}`, source: d, target: n.id, animated: n.status === 'running' })),
  );
  return (
    <div className="dag" data-testid="dag">
      <ReactFlow
        nodes={flowNodes}
        edges={edges}
        fitView
        fitViewOptions={{ padding: 0.2, maxZoom: 1.2 }}
        nodesDraggable={false}
        nodesConnectable={false}
        onNodeClick={(_, node) => onSelect(node.id)}
        minZoom={0.2}
      >
        <Background gap={16} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

function NodeLabel({ n }: { n: DagNode }) {
  return (
    <div className="dag-label">
      <strong>{n.title}</strong>
      <span>
        {n.kind} · {n.status}
      </span>
    </div>
  );
}
