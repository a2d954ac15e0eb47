import { BarElement, CategoryScale, Chart as ChartJS, Legend, LinearScale, Tooltip } from 'chart.js';
import { Bar } from 'react-chartjs-2';

ChartJS.register(BarElement, CategoryScale, LinearScale, Tooltip, Legend);

/**
 * A bar chart with its numbers also as a table for screen readers (the canvas itself is an image
 * with a summary label). `horizontal` for funnels.
 */
export function BarChart({
  label,
  labels,
  values,
  horizontal,
  color = '#2457c5',
}: {
  label: string;
  labels: string[];
  values: number[];
  horizontal?: boolean;
  color?: string;
}) {
  const summary = `${label}: ${labels.map((l, i) => `${l} ${values[i]}`).join(', ')}`;
  return (
    <figure className="chart">
      <div className="chart-box">
        <Bar
          role="img"
          aria-label={summary}
          data={{ labels, datasets: [{ label, data: values, backgroundColor: color }] }}
          options={{
            indexAxis: horizontal ? 'y' : 'x',
            responsive: true,
            maintainAspectRatio: false,
            animation: false,
            plugins: { legend: { display: false } },
            scales: {
              x: { beginAtZero: true, ticks: { precision: 0 } },
              y: { beginAtZero: true, ticks: { precision: 0 } },
            },
          }}
        />
      </div>
      <figcaption className="sr-only">
        <table>
          <caption>{label}</caption>
          <tbody>
            {labels.map((l, i) => (
              <tr key={l}>
                <th scope="row">{l}</th>
                <td>{values[i]}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </figcaption>
    </figure>
  );
}
