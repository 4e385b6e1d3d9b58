import { DetectView } from "@/components/detect/DetectView";

export default function DetectPage() {
  return <DetectView />;
}
